"""``hookline test`` with GraphQL, SOAP and OAuth2 answered each in its own form; a WSDL
by URL answered like any request; nothing kept in the hookline home; the schema files
generated; and a plain run that never imports the testing package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

from hookline.testing._schema import FILE_NAME, compose, dumps
from servers.soap_app import PLACEHOLDER, WSDL_FILE
from support import ROOT


def pair(tmp_path: Path, pipeline: str, tests: str) -> str:
    (tmp_path / "p.yaml").write_text(pipeline, encoding="utf-8")
    (tmp_path / "p.test.yaml").write_text(tests, encoding="utf-8")
    return str(tmp_path / "p.test.yaml")


GRAPHQL = """\
version: 1
name: g
secrets: [SHOP_TOKEN]
connections:
  shop:
    graphql: {url: "https://shop.example.com/graphql", auth: {bearer: "${{ secrets.SHOP_TOKEN }}"}}
steps:
  - id: find
    graphql:
      connection: shop
      query: "query Find($id: ID!) { customer(id: $id) { id tags } }"
      variables: {id: "${{ input.id }}"}
output: "${{ steps.find.customer }}"
"""


def test_graphql_data_errors_and_the_request_sent(cli, tmp_path):
    path = pair(
        tmp_path,
        GRAPHQL,
        """\
version: 1
defaults: {input: {id: C7}}
cases:
  - name: data
    answers:
      find: {data: {customer: {id: C7, tags: [vip]}}}
    expect:
      output: {id: C7, tags: [vip]}
      requests:
        find:
          - method: POST
            headers: {Authorization: Bearer ***}
            where: {json.variables: {id: C7}, json.operationName: Find}
  - name: errors
    answers:
      find: {errors: [{message: Customer is locked, extensions: {code: LOCKED}}]}
    expect:
      failed_step: find
      error_contains: Customer is locked
""",
    )
    result = cli("test", path)
    assert result.code == 0, result.out


def soap_files(tmp_path: Path, steps: str, wsdl: str = "wsdl/leads.wsdl") -> None:
    (tmp_path / "wsdl").mkdir(exist_ok=True)
    shutil.copy(WSDL_FILE, tmp_path / "wsdl" / "leads.wsdl")
    (tmp_path / "p.yaml").write_text(
        f"""\
version: 1
name: s
connections:
  crm:
    soap: {{wsdl: "{wsdl}", address: "{PLACEHOLDER}"}}
steps:
{steps}""",
        encoding="utf-8",
    )


FIND = """\
  - id: find
    soap: {connection: crm, operation: FindLeadByEmail, args: {email: ada@example.com}}
    on_error:
      steps:
        - id: missing
          set: "${{ error.fault }}"
"""


def test_soap_result_fault_and_envelope(cli, tmp_path):
    soap_files(tmp_path, FIND + 'output: "${{ steps.find }}"\n')
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<FindLeadByEmailResponse xmlns="urn:example:crm:leads"><lead><id>L-5</id>'
        "<email>ada@example.com</email><firstName>Ada</firstName></lead>"
        "</FindLeadByEmailResponse></soap:Body></soap:Envelope>"
    )
    (tmp_path / "p.test.yaml").write_text(
        f"""\
version: 1
cases:
  - name: result, with the envelope captured
    answers:
      find: {{result: {{id: L-1}}}}
    expect:
      output: {{id: L-1}}
      requests:
        find:
          - method: POST
            url: {PLACEHOLDER}
            where:
              "contains(body, '<ns0:email>ada@example.com</ns0:email>')": true
              headers.SOAPAction: '"urn:example:crm:leads#FindLeadByEmail"'
  - name: fault with a detail the pipeline reads
    answers:
      find:
        fault:
          code: soap:Client
          message: no such lead
          detail: '<LeadNotFound xmlns="urn:example:crm:leads"><email>ada@example.com</email></LeadNotFound>'
    expect:
      output_where: {{code: Client, message: no such lead, detail.LeadNotFound.email: ada@example.com}}
  - name: a raw envelope
    answers:
      find: {{envelope: '{envelope}'}}
    expect:
      output_where: {{id: L-5, firstName: Ada}}
""",
        encoding="utf-8",
    )
    result = cli("test", str(tmp_path))
    assert result.code == 0, result.out


def test_a_wsdl_by_url_is_answered_like_any_request_and_nothing_stays_in_the_home(cli, tmp_path):
    home = tmp_path / "hookline-home"  # the tests' HOOKLINE_HOME (tests/conftest.py)
    url = "https://crm.example.com/soap/leads?wsdl"
    soap_files(tmp_path, FIND + 'output: "${{ steps.find.id }}"\n', wsdl=url)
    wsdl = json.dumps(WSDL_FILE.read_text(encoding="utf-8"))
    (tmp_path / "p.test.yaml").write_text(
        f"""\
version: 1
cases:
  - name: the WSDL answered
    answers:
      find:
        - when: {{method: GET, url: "https://crm.example.com/soap/leads"}}
          headers: {{Content-Type: text/xml}}
          body: {wsdl}
        - result: {{id: L-1}}
    expect: {{output: L-1}}
  - name: the WSDL not answered
    answers:
      find: {{result: {{id: L-1}}}}
""",
        encoding="utf-8",
    )
    result = cli("test", str(tmp_path))
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].startswith("PASS  ")
    # The answer that works for a WSDL fetch is suggested (a SOAP `result` cannot be one).
    assert lines[2:9] == [
        f"      run: no answer for step 'find': GET {url} (a WSDL or a schema it imports)",
        "      add to the step's list of answers in the case:",
        "        answers:",
        "          find:",
        "            - when: {method: GET, url: 'https://crm.example.com/soap/leads'}",
        "              body: '<the document at that URL>'",
        "      or keep a copy of the WSDL beside the pipeline and name it in the connection",
    ]
    assert not home.exists()


OAUTH = """\
version: 1
name: o
secrets: [CLIENT_ID, CLIENT_SECRET]
connections:
  api:
    rest:
      base_url: https://api.example.com
      auth:
        oauth2:
          token_url: https://auth.example.com/token
          client_id: "${{ secrets.CLIENT_ID }}"
          client_secret: "${{ secrets.CLIENT_SECRET }}"
steps:
  - id: me
    rest: {connection: api, path: /me}
output: "${{ steps.me.body }}"
"""


def test_oauth2_token_requests_get_a_placeholder_token(cli, tmp_path):
    path = pair(
        tmp_path,
        OAUTH,
        """\
version: 1
cases:
  - name: me
    answers:
      me: {json: {id: 1}}
    expect:
      output: {id: 1}
      requests:
        me:
          - {url: "https://api.example.com/me", headers: {Authorization: Bearer ***}}
""",
    )
    result = cli("test", path)
    assert result.code == 0, result.out


def test_the_test_schema_files_are_generated_and_valid():
    text = dumps(compose())
    for copy in (ROOT / "schemas" / FILE_NAME, ROOT / "src" / "hookline" / "schemas" / FILE_NAME):
        assert copy.read_text(encoding="utf-8") == text, (
            f"{copy.name} is stale: run `python -m hookline.testing._schema`"
        )
    Draft202012Validator.check_schema(compose())


def test_a_plain_run_does_not_import_the_testing_package(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "version: 1\nname: p\nsteps:\n  - {id: a, set: 1}\n", encoding="utf-8"
    )
    code = (
        "import sys\n"
        "from hookline.cli import run_pipeline_main\n"
        f"code = run_pipeline_main([{str(tmp_path / 'p.yaml')!r}])\n"
        "print(code, sorted(m for m in sys.modules if m.startswith('hookline.testing')))\n"
    )
    env = {**os.environ, "HOOKLINE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.stdout.splitlines()[-1] == "0 []", done.stderr


def test_serve_and_cron_do_not_take_a_test_file_for_a_pipeline(tmp_path):
    from hookline.cli.cron import crontab
    from hookline.serve._catalog import load_catalog

    (tmp_path / "nightly.yaml").write_text(
        'version: 1\nname: nightly\ntrigger: {schedule: {cron: "0 3 * * *"}}\n'
        "steps:\n  - {id: a, set: 1}\n",
        encoding="utf-8",
    )
    (tmp_path / "nightly.test.yaml").write_text(
        "version: 1\ncases:\n  - name: runs\n    expect: {output: null}\n", encoding="utf-8"
    )
    catalog = load_catalog(str(tmp_path))
    assert list(catalog.pipelines) == ["nightly"]
    assert catalog.problems == []
    lines, _warnings = crontab(str(tmp_path))
    assert sum("nightly.yaml --log-format" in line for line in lines) == 1
    assert not any("nightly.test.yaml" in line for line in lines)


def test_the_default_path_is_here_without_hidden_directories(cli, tmp_path, monkeypatch):
    pair(tmp_path, "version: 1\nname: p\nsteps:\n  - {id: a, set: 1}\n", OK_CASE)
    hidden = tmp_path / ".venv" / "lib"
    hidden.mkdir(parents=True)
    (hidden / "broken.test.yaml").write_text("not: a test\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = cli("test")
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[0].startswith("PASS  p.test.yaml: one (")


OK_CASE = "version: 1\ncases:\n  - name: one\n    expect: {output: null}\n"


def test_schema_tests_prints_the_test_file_schema(cli):
    result = cli("schema", "--tests")
    assert result.code == 0
    assert json.loads(result.out) == compose()


ENV_PIPELINE = """\
version: 1
name: e
env:
  CRM_URL: {default: https://crm.example.com/api}
  REGION:
steps:
  - {id: where, set: "${{ join(' ', [env.CRM_URL, env.REGION || 'none']) }}"}
output: "${{ steps.where }}"
"""


def test_env_comes_from_the_case_never_from_the_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("REGION", "from-the-real-environment")
    path = pair(
        tmp_path,
        ENV_PIPELINE,
        """\
version: 1
cases:
  - name: the default
    env: {REGION: us}
    expect: {output: https://crm.example.com/api us}
  - name: given
    env: {CRM_URL: "http://127.0.0.1:9/api", REGION: eu}
    expect: {output: "http://127.0.0.1:9/api eu"}
""",
    )
    result = cli("test", path)
    assert result.code == 0, result.out


def test_an_env_name_with_no_default_that_the_case_does_not_set_fails_it(cli, tmp_path):
    # `hookline run` refuses to start without it: a case does not run with it null.
    path = pair(tmp_path, ENV_PIPELINE, "version: 1\ncases:\n  - name: unset\n")
    result = cli("test", path)
    assert result.code == 1
    assert result.out.splitlines()[1] == (
        f"      run: {tmp_path / 'p.yaml'}:5:3: env 'REGION' is not set and has no default: "
        "give the case a value for it (env: {REGION: ...}) or the pipeline a default"
    )


def test_an_env_name_the_pipeline_does_not_declare_is_located(cli, tmp_path):
    path = pair(
        tmp_path,
        ENV_PIPELINE,
        "version: 1\ncases:\n  - name: x\n    env: {CRM_ULR: a}\n",
    )
    result = cli("test", path)
    assert result.code == 2
    assert result.err == (
        f"{path}:4:11: the pipeline declares no env 'CRM_ULR'; did you mean 'CRM_URL'?\n"
    )
