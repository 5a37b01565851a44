"""The test REST server's data routes, driven with plain ``requests``: pagination styles
(followed by hand, end to end) and the Airtable-like API with its rate limit."""

from __future__ import annotations

import time
from typing import Any

import requests

from servers.rest_app import RestServer


def get(server: RestServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(server.url + path, timeout=5, **kwargs)


def post(server: RestServer, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(server.url + path, timeout=5, **kwargs)


# -- pagination ---------------------------------------------------------------------------------


def follow(
    server: RestServer, url: str, next_of: Any, limit: int = 30, headers: Any = None
) -> list[Any]:
    """Fetch url, then whatever next_of(response) says, until it says None."""
    bodies: list[Any] = []
    with requests.Session() as session:
        while url is not None and len(bodies) < limit:
            response = session.get(url, timeout=5, headers=headers)
            assert response.status_code == 200
            bodies.append(response.json())
            url = next_of(response)
    return bodies


def ids(records: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in records]


ALL = list(range(1, 96))


def test_link_header_pagination(server: RestServer) -> None:
    def next_of(r: requests.Response) -> str | None:
        return r.links.get("next", {}).get("url")

    bodies = follow(server, server.url + "/pages/link", next_of)
    assert len(bodies) == 10 and [i for b in bodies for i in ids(b)] == ALL
    assert bodies[0][0] == {"id": 1, "name": "Contact 1", "email": "contact1@example.com"}
    bodies = follow(server, server.url + "/pages/link?per_page=50", next_of)
    assert [len(b) for b in bodies] == [50, 45]


def test_next_url_pagination(server: RestServer) -> None:
    bodies = follow(server, server.url + "/pages/next?per_page=20", lambda r: r.json()["next"])
    assert [i for b in bodies for i in ids(b["records"])] == ALL
    assert bodies[0]["next"] == server.url + "/pages/next?page=2&per_page=20"
    assert bodies[-1]["next"] is None


def test_cursor_pagination(server: RestServer) -> None:
    cursors: list[str] = []

    def next_of(r: requests.Response) -> str | None:
        cursor = r.json()["next_cursor"]
        cursors.append(cursor)
        return None if cursor is None else f"{server.url}/pages/cursor?cursor={cursor}"

    bodies = follow(server, server.url + "/pages/cursor", next_of)
    assert [i for b in bodies for i in ids(b["records"])] == ALL
    assert cursors[-1] is None and not any(c.isdigit() for c in cursors[:-1])
    assert get(server, "/pages/cursor?cursor=garbage").status_code == 400


def test_crm_contacts_cursor_pages_behind_a_bearer_token(server: RestServer) -> None:
    auth = {"Authorization": f"Bearer {server.bearer_token}"}

    def next_of(r: requests.Response) -> str | None:
        cursor = r.json()["next_cursor"]
        return None if cursor is None else f"{server.url}/crm/contacts?limit=25&cursor={cursor}"

    bodies = follow(server, server.url + "/crm/contacts?limit=25", next_of, headers=auth)
    assert [len(b["records"]) for b in bodies] == [25, 25, 25, 20]
    assert [i for b in bodies for i in ids(b["records"])] == ALL
    assert get(server, "/crm/contacts").status_code == 401
    assert post(server, "/crm/contacts", headers=auth).status_code == 405


def test_cursor_cycle_never_ends(server: RestServer) -> None:
    def next_of(r: requests.Response) -> str:
        return f"{server.url}/pages/cursor-cycle?cursor={r.json()['next_cursor']}"

    bodies = follow(server, server.url + "/pages/cursor-cycle", next_of, limit=5)
    assert [b["next_cursor"] for b in bodies] == ["A", "B", "A", "B", "A"]
    assert all(b["records"] for b in bodies)
    assert get(server, "/pages/cursor-cycle?cursor=C").status_code == 400


def test_offset_and_page_number_pagination(server: RestServer) -> None:
    seen: list[int] = []
    offset = 0
    while True:
        body = get(server, f"/pages/offset?offset={offset}&limit=30").json()
        assert body["total"] == 95
        if not body["records"]:
            break
        seen += ids(body["records"])
        offset += len(body["records"])
    assert seen == ALL
    seen, page = [], 1
    while True:
        body = get(server, f"/pages/page?page={page}&per_page=25").json()
        seen += ids(body["records"])
        if not body["has_more"]:
            break
        page += 1
    assert seen == ALL and page == 4


def test_repeat_returns_page_one_forever(server: RestServer) -> None:
    bodies = follow(server, server.url + "/pages/repeat", lambda r: r.json()["next"], limit=3)
    assert [ids(b["records"]) for b in bodies] == [list(range(1, 11))] * 3
    assert {b["next"] for b in bodies} == {server.url + "/pages/repeat?page=2"}


def test_empty_tail_keeps_offering_a_next_page(server: RestServer) -> None:
    bodies = follow(server, server.url + "/pages/empty-tail", lambda r: r.json()["next"], 12)
    assert [i for b in bodies for i in ids(b["records"])] == ALL
    assert [len(b["records"]) for b in bodies[9:]] == [5, 0, 0]
    assert bodies[-1]["next"] == server.url + "/pages/empty-tail?page=13"


# -- Airtable -----------------------------------------------------------------------------------


def airtable(server: RestServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.airtable_token}"}
    return requests.request(method, server.url + path, headers=headers, timeout=5, **kwargs)


def test_airtable_creates_batches_and_single_records(server: RestServer) -> None:
    batch = {"records": [{"fields": {"Name": "Ada"}}, {"fields": {"Name": "Bob"}}]}
    created = airtable(server, "POST", "/v0/appBase1/Contacts", json=batch).json()["records"]
    assert [r["fields"] for r in created] == [{"Name": "Ada"}, {"Name": "Bob"}]
    assert all(r["id"].startswith("rec") and len(r["id"]) == 17 for r in created)
    assert created[0]["createdTime"].endswith("Z")
    single = airtable(server, "POST", "/v0/appBase1/Contacts", json={"fields": {"Name": "Cy"}})
    assert single.json()["fields"] == {"Name": "Cy"} and "records" not in single.json()
    assert [r["fields"]["Name"] for r in server.tables["Contacts"]] == ["Ada", "Bob", "Cy"]


def test_airtable_refuses_bad_requests(server: RestServer) -> None:
    path = "/v0/appBase1/Contacts"
    eleven = [{"fields": {"n": i}} for i in range(11)]
    for records in (eleven, []):
        body = {"records": records}
        response = airtable(server, "POST", path, json=body)
        assert response.status_code == 422
        assert response.json()["error"]["type"] == "INVALID_RECORDS"
    assert airtable(server, "POST", path, json={"name": "x"}).status_code == 422
    unauthorized = post(server, path, json={"fields": {}})
    assert unauthorized.status_code == 401
    wrong = post(server, path, json={"fields": {}}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert server.tables == {}


def test_airtable_rate_limit_per_base(server: RestServer) -> None:
    fields = {"fields": {"n": 1}}
    answers = [airtable(server, "POST", "/v0/appA/T", json=fields) for _ in range(7)]
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
    assert answers[5].json() == {"errors": [{"error": "RATE_LIMIT_REACHED"}]}
    assert answers[5].headers["Retry-After"] == "1"
    assert airtable(server, "POST", "/v0/appB/T", json=fields).status_code == 200
    assert server.rate_limited == 2 and len(server.tables["T"]) == 6
    time.sleep(1.0)
    assert airtable(server, "POST", "/v0/appA/T", json=fields).status_code == 200


def test_airtable_lists_records_page_by_page(server: RestServer) -> None:
    server.airtable_rate = 1000
    for start in range(0, 25, 10):
        batch = {"records": [{"fields": {"n": i}} for i in range(start, min(start + 10, 25))]}
        assert airtable(server, "POST", "/v0/appA/T", json=batch).ok
    seen: list[int] = []
    pages = 0
    params: dict[str, Any] = {"pageSize": 10}
    while True:
        body: dict[str, Any] = airtable(server, "GET", "/v0/appA/T", params=params).json()
        pages += 1
        seen += [r["fields"]["n"] for r in body["records"]]
        if "offset" not in body:
            break
        params["offset"] = body["offset"]
    assert (seen, pages) == (list(range(25)), 3)
    assert airtable(server, "GET", "/v0/appA/Empty").json() == {"records": []}
    bad = airtable(server, "GET", "/v0/appA/T", params={"offset": "itr999/recX"})
    assert bad.status_code == 422
