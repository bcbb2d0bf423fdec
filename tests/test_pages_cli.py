"""`python -m assistant shop ...` and `python -m assistant page ...`: output, files, and one-line errors with exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli import parser
from assistant.pages.cli import pages_main
from tests.fakes import HashEmbedder, ScriptedBackend
from tests.pages_helpers import NOW

ROOT = Path(__file__).resolve().parent.parent


def run(argv, capsys, *, backend=None):
    args = parser().parse_args(argv)
    code = pages_main(args, embedder=HashEmbedder(), backend=backend or ScriptedBackend(), clock=lambda: NOW)
    out, err = capsys.readouterr()
    return code, out, err


def test_shop_prints_the_result_page_as_json(tmp_path, capsys):
    code, out, _ = run(["shop", "laptops for 3D modeling", "--user", "ann", "--json", "--data-dir", str(tmp_path)], capsys)
    data = json.loads(out)
    assert code == 0 and data["threshold"] == 0.5 and data["comparison"] == "strict" and data["category"] == "laptops"
    assert all({"org_id", "merchant", "landing_page_url", "landing_page_score", "ai_page_link", "above_threshold"} <= set(r) for r in data["results"])
    for result in data["results"]:
        assert (result["ai_page_link"] is not None) == result["above_threshold"]
    assert data["linked"] == [r["org_id"] for r in data["results"] if r["ai_page_link"]]


def test_shop_prints_a_table_and_logs_the_query(tmp_path, capsys):
    code, out, _ = run(["shop", "espresso machine", "--user", "ann", "--data-dir", str(tmp_path), "--threshold", "0.7",
                        "--link-in-sponsored"], capsys)
    assert code == 0 and "score" in out and "[sponsored]" in out and "> 0.7" in out
    from memory.activity import ActivityLog

    assert [a.query for a in ActivityLog(tmp_path / "activity.sqlite3").queries("ann")] == ["espresso machine"]


def test_page_writes_a_sanitized_standalone_file(tmp_path, capsys):
    data = ["--data-dir", str(tmp_path)]
    for query in ("best laptop for architecture", "best laptop for 3D modeling"):
        run(["shop", query, "--user", "ann", *data], capsys)
    out_file = tmp_path / "out" / "northpeak.html"
    code, out, err = run(["page", "northpeak", "--user", "ann", "--query", "laptops", "--html", str(out_file), *data], capsys)
    html = out_file.read_text()
    assert code == 0 and html.startswith("<!doctype html>") and "Content-Security-Policy" in html and "<script" not in html
    assert "For 3D modeling" in out and "basis=history" in out and "northpeak.html" in err
    assert 'data-component="headline"' in html and "best laptop for 3D modeling" in html


def test_page_json_and_approval(tmp_path, capsys):
    run(["shop", "laptops", "--user", "ann", "--data-dir", str(tmp_path)], capsys)
    code, out, _ = run(["page", "vireo", "--user", "ann", "--query", "laptops", "--json", "--data-dir", str(tmp_path),
                        "--approval-required", "--approve"], capsys)
    page = json.loads(out)
    assert code == 0 and page["org_id"] == "vireo" and page["approved"] is True and page["approvals"] == ["user"]


@pytest.mark.parametrize(("argv", "message"), [
    (["shop", "", "--user", "ann"], "the query is empty"),
    (["shop", "x" * 5000, "--user", "ann"], "5,000 characters"),
    (["shop", "laptops", "--user", " "], "a user name is needed"),
    (["page", "nosuchshop", "--user", "ann", "--query", "laptops"], "there is no merchant 'nosuchshop'"),
    (["page", "northpeak", "--user", "stranger", "--query", "laptops"], "unknown user 'stranger'"),
    (["page", "pixelforge", "--user", "ann", "--query", "laptops"], "not above the threshold"),
    (["page", "northpeak", "--user", "ann", "--query", ""], "the query is empty"),
    (["page", "beanburr", "--user", "ann", "--query", "laptops", "--ignore-gate"], "Bean & Burr sells no laptops"),
    (["shop", "laptops", "--user", "ann", "--catalog", "/nonexistent/catalog.json"], "no such file"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    run(["shop", "laptops", "--user", "ann", "--data-dir", str(tmp_path)], capsys)  # ann is known
    code, out, err = run([*argv, "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["shop", "page"])
def test_every_flag_has_help(command):
    sub = next(a for a in parser()._subparsers._group_actions[0].choices.items() if a[0] == command)[1]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"


def test_the_real_command_line_gives_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "assistant", "page", "nosuch", "--user", "ann", "--query", "laptops",
                             "--data-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "there is no merchant 'nosuch'" in result.stderr
