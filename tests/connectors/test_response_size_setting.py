"""max_response_size is checked at load: a size too large for any run is a located error
(exit 2), never a crash when the first answer arrives."""

from __future__ import annotations

import pytest

from hookline.cli import main

PIPELINE = """\
version: 1
name: sizes
connections:
  api:
    rest:
      base_url: http://127.0.0.1:9
      max_response_size: {size}
steps:
  - id: call
    rest: {{connection: api, path: /x}}
"""


@pytest.mark.parametrize("size", ['"99999999999999999999999GiB"', "1099511627777", '"1025GiB"'])
def test_a_size_over_one_tib_is_a_located_error(size, tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(size=size), encoding="utf-8")
    code = main(["check", str(path)])
    out = capsys.readouterr()
    err = out.out + out.err
    assert code == 2
    shown = size.strip('"')
    assert (
        f"{path}:7:26: max_response_size '{shown}' is more than 1 TiB, the most a response may be"
        in err
    )


def test_one_tib_is_accepted(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(size='"1024GiB"'), encoding="utf-8")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
