"""The answer ``hookline test`` suggests for an unanswered request works as given: a
status the step accepts, under the step's own key (which answers every iteration)."""

from __future__ import annotations

from pathlib import Path

PIPELINE = """\
version: 1
name: leads
connections:
  crm:
    rest: {base_url: "https://crm.example.com"}
steps:
  - id: each
    for_each:
      items: input
      steps:
        - id: create
          rest: {connection: crm, method: POST, path: /leads, json: {n: "${{ item }}"}, expect: [201]}
"""

CASE = """\
version: 1
cases:
  - name: creates each lead
    input: [1, 2]
{answers}    expect: {{status: succeeded}}
"""


def test_the_suggested_answer_has_a_status_the_step_accepts_and_passes(cli, tmp_path: Path):
    (tmp_path / "leads.yaml").write_text(PIPELINE)
    test = tmp_path / "leads.test.yaml"
    test.write_text(CASE.format(answers=""))
    result = cli("test", str(test))
    assert result.code == 1
    assert result.out.splitlines()[1:6] == [
        "      run: no answer for step 'create' (iteration 0 of 'each'): POST "
        "https://crm.example.com/leads",
        "      add to the case:",
        "        answers:",
        "          create: {status: 201, json: {}}",
        "      (or 'create[0]:' to answer iteration 0 alone)",
    ]
    advised = result.out.splitlines()[3:5]  # pasted in, as the user would
    test.write_text(CASE.format(answers="\n".join(x[4:] for x in advised) + "\n"))
    again = cli("test", str(test))
    assert again.code == 0, again.out
