"""`newsflow related` refuses what Elasticsearch would refuse, as a usage error."""

from __future__ import annotations

from typer.testing import CliRunner

from newsflow.cli import app


def test_related_checks_its_arguments_before_asking_elasticsearch() -> None:
    runner = CliRunner()
    for args, says in (
        ([""], "an article id"),
        (["abc", "-k", "0"], "-k"),
        (["abc", "-k", "5000"], "-k"),
    ):
        result = runner.invoke(
            app, ["related", *args], env={"NEWSFLOW_ES_URL": "http://127.0.0.1:9"}
        )
        assert result.exit_code == 2, result.output
        assert says in result.output
