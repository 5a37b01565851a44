"""hookline init: a project that checks, tests and runs at once; never overwrites."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
import yaml

from hookline.cli._init_merge import MERGED
from hookline.cli.init import FILES, project_files


class _Users(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/users/3":
            body = json.dumps({"id": 3, "name": "Clementine Bauch", "email": "Nathan@Yesenia.NET"})
            status = 200
        else:
            body, status = "{}", 404
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def users_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Users)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def project(cli, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    result = cli("init", str(root))
    assert result.code == 0, result.err
    return root


def test_init_writes_the_project_files(project: Path):
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == sorted(FILES)


def test_the_project_checks_and_its_tests_pass(cli, project: Path, monkeypatch):
    monkeypatch.chdir(project)
    checked = cli("check", "pipelines/")
    assert checked.code == 0, checked.out + checked.err
    assert checked.err.strip() == "2 files checked: all valid"
    tested = cli("test", "pipelines/")
    assert tested.code == 0, tested.out + tested.err
    assert "2 passed" in tested.out


def test_the_example_runs_against_a_local_server(cli, project: Path, users_api, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("HOOKLINE_HOME")  # the project's .env names its own home
    monkeypatch.setenv("API_URL", users_api)
    result = cli(
        "run", "--env-file", ".env", "pipelines/greet-user.yaml", "--input", '{"user_id": 3}'
    )
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "greeting": "Hello, Clementine Bauch!",
        "email": "nathan@yesenia.net",
    }
    assert (project / ".hookline" / "hookline.db").is_file()  # the project-local home


def test_the_modelines_and_editor_settings_find_the_schemas(project: Path):
    pipelines = project / "pipelines"
    for name, schema in (
        ("greet-user.yaml", "pipeline.schema.json"),
        ("greet-user.test.yaml", "pipeline-test.schema.json"),
    ):
        first = (pipelines / name).read_text().splitlines()[0]
        assert first == f"# yaml-language-server: $schema=../schemas/{schema}"
        target = (pipelines / first.split("$schema=")[1]).resolve()
        shipped = (resources.files("hookline") / "schemas" / schema).read_text()
        assert target.read_text() == shipped
    settings = json.loads((project / ".vscode" / "settings.json").read_text())
    for schema in settings["yaml.schemas"]:
        assert (project / schema).is_file()


def test_gitignore_and_pre_commit(project: Path):
    ignored = (project / ".gitignore").read_text().splitlines()
    assert {".env", ".hookline/"} <= set(ignored)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    assert config == {
        "repos": [
            {
                "repo": "local",
                "hooks": [
                    {
                        "id": "hookline-check",
                        "name": "hookline check",
                        "entry": "hookline check --skip-non-pipelines",
                        "language": "system",
                        "types": ["yaml"],
                    }
                ],
            }
        ]
    }


def test_what_the_hook_runs_passes_on_every_yaml_file_of_the_project(cli, project, monkeypatch):
    monkeypatch.chdir(project)
    every_yaml = sorted(str(p.relative_to(project)) for p in project.rglob("*.yaml"))
    result = cli("check", "--skip-non-pipelines", *every_yaml)
    assert result.code == 0, result.out + result.err
    assert result.err.splitlines() == [
        "note: .pre-commit-config.yaml: not a hookline pipeline (no top-level 'version: 1' "
        "or 'steps:', no hookline $schema modeline): skipped",
        "2 files checked: all valid",
    ]


REFUSAL_NEXT = (
    "  init never overwrites a file: move or rename them and run init again, or start in a "
    "new folder (hookline init DIR); to refresh only the schemas: hookline schema > "
    "schemas/pipeline.schema.json; hookline schema --tests > schemas/pipeline-test.schema.json"
)
OWNED = [name for name in FILES if name not in MERGED]


def test_init_twice_refuses_names_what_it_owns_and_says_what_to_do(cli, project: Path):
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = cli("init", str(project))
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: {project}: init writes nothing, these files exist: " + ", ".join(OWNED),
        REFUSAL_NEXT,
    ]
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_one_file_init_owns_is_enough_to_refuse(cli, tmp_path: Path):
    (tmp_path / ".env").write_text("MINE=1\n")
    (tmp_path / ".gitignore").write_text("mine\n")
    result = cli("init", str(tmp_path))
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: {tmp_path}: init writes nothing, these files exist: .env",
        REFUSAL_NEXT,
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", ".gitignore"]


def test_an_existing_repository_keeps_its_files_and_is_told_what_to_add(cli, tmp_path: Path):
    (tmp_path / ".gitignore").write_text("node_modules/\n.env\n")
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    (tmp_path / ".vscode").mkdir()
    (tmp_path / ".vscode" / "settings.json").write_text('{"editor.tabSize": 2}\n')
    mine = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = cli("init", str(tmp_path))
    assert result.code == 0, result.err
    assert {p: p.read_bytes() for p in mine} == mine  # left as they were
    assert all((tmp_path / name).is_file() for name in OWNED)
    err = result.err
    assert (
        "  .gitignore: exists, left alone; add these lines to it:\n      .env.*\n      .hookline/\n"
    ) in err
    assert (
        "  .pre-commit-config.yaml: exists, left alone; add these lines to it:\n"
        "      # under repos:\n"
        "        - repo: local\n"
        "          hooks:\n"
        "            - id: hookline-check\n"
    ) in err
    assert (
        "  .vscode/settings.json: exists, left alone; add these lines to it:\n"
        "      // merge into the settings object:\n"
        '        "yaml.schemas": {\n'
        '          "./schemas/pipeline.schema.json": [\n'
    ) in err
    # the advice, pasted in, makes the files do what init's own would
    hook = err.split("# under repos:\n", 1)[1].split("\nnext: ", 1)[0]
    config = yaml.safe_load("repos:\n" + "\n".join(x[6:] for x in hook.splitlines()))
    assert config == yaml.safe_load(project_files()[".pre-commit-config.yaml"])


def test_files_that_already_have_what_hookline_needs_are_said_so(cli, project: Path):
    for name in OWNED:
        (project / name).unlink()
    result = cli("init", str(project))
    assert result.code == 0, result.err
    for name in MERGED:
        assert f"  {name}: exists, left alone (it already has what hookline needs)\n" in result.err


def test_the_next_steps_start_with_cd_and_say_what_runs_offline(cli, tmp_path: Path):
    root = tmp_path / "my project"
    result = cli("init", str(root))
    assert result.code == 0, result.err
    assert result.err.split("next: ", 1)[1].splitlines() == [
        f"cd '{root}'",
        "      hookline check pipelines/ && hookline test pipelines/   # tests run offline",
        "      hookline run --env-file .env pipelines/greet-user.yaml --input '{\"user_id\": 1}'",
        "      (the example calls a public test API, jsonplaceholder.typicode.com, unless "
        "API_URL is set in .env)",
    ]


def test_init_into_a_file_is_a_usage_error(cli, tmp_path: Path):
    target = tmp_path / "a-file"
    target.write_text("")
    result = cli("init", str(target))
    assert result.code == 2
    assert result.err.strip() == f"error: {target}: not a directory"


# --- init writes only inside DIR -------------------------------------------------------


@pytest.mark.parametrize("folder", ["pipelines", "schemas", ".vscode"])
def test_a_symlinked_folder_is_refused_and_nothing_is_written(cli, tmp_path: Path, folder):
    root, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / folder).symlink_to(elsewhere, target_is_directory=True)
    result = cli("init", str(root))
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {root}: init writes nothing: {folder} is a symbolic link (init writes only "
        f"inside {root}, never through a link)"
    )
    assert list(elsewhere.iterdir()) == []
    assert [p.name for p in root.iterdir()] == [folder]


def test_a_dangling_symlinked_folder_is_refused(cli, tmp_path: Path):
    (tmp_path / "schemas").symlink_to(tmp_path / "nowhere")
    result = cli("init", str(tmp_path))
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {tmp_path}: init writes nothing: schemas is a symbolic link (init writes only "
        f"inside {tmp_path}, never through a link)"
    )
    assert not (tmp_path / "nowhere").exists()


def test_a_file_where_a_folder_goes_is_refused(cli, tmp_path: Path):
    (tmp_path / "pipelines").write_text("")
    result = cli("init", str(tmp_path))
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {tmp_path}: init writes nothing: pipelines is not a directory"
    )


def test_a_dangling_symlink_as_dir_is_a_usage_error(cli, tmp_path: Path):
    (tmp_path / "project").symlink_to(tmp_path / "nowhere")
    result = cli("init", str(tmp_path / "project"))
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {tmp_path / 'project'}: cannot create this directory: File exists"
    )


def test_the_env_file_is_private(project: Path):
    assert (project / ".env").stat().st_mode & 0o777 == 0o600
    # The rest is as any new file (the umask decides), readable by the owner.
    assert (project / "pipelines" / "greet-user.yaml").stat().st_mode & 0o600 == 0o600


def test_check_of_the_whole_project_passes(cli, project: Path, monkeypatch):
    monkeypatch.chdir(project)
    result = cli("check", ".")
    assert result.code == 0, result.out + result.err
    assert result.err.splitlines() == ["2 files checked: all valid"]


def test_a_link_planted_after_the_checks_is_not_followed(tmp_path: Path):
    # The checks in handle() refuse a link that is there before; a link made between the
    # checks and the write must fail the write, not send the file elsewhere.
    from hookline.cli.init import _write

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "pipelines").symlink_to(elsewhere, target_is_directory=True)
    (tmp_path / ".env").symlink_to(elsewhere / "stolen.env")
    with pytest.raises(OSError):
        _write(tmp_path, "pipelines/greet-user.yaml", "x")
    with pytest.raises(OSError):
        _write(tmp_path, ".env", "x")
    assert list(elsewhere.iterdir()) == []
