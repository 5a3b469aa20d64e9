"""The tests every chapter's exercise checks share: pass on the reference, name each typical mistake, let a stub through.

A chapter's test module lists ``SOLUTIONS`` ``[(check, solution)]`` and ``WRONG_ANSWERS``
``[(check, wrong_answer, words of the expected message)]`` and binds the tests with `check_matrix`.
"""

import re

import pytest

from sinklab.checks import CheckFailed


def check_matrix(solutions, wrong_answers):
    """The three parametrized tests for one chapter's checks, to assign to ``test_*`` names in its module."""

    @pytest.mark.parametrize("check, solution", solutions, ids=lambda x: getattr(x, "__name__", ""))
    def passes_on_the_reference_solution(check, solution, capsys):
        check(solution)
        assert "✅" in capsys.readouterr().out

    @pytest.mark.parametrize("check, wrong, mistake", wrong_answers, ids=lambda x: getattr(x, "__name__", None))
    def names_the_mistake(check, wrong, mistake):
        with pytest.raises(CheckFailed, match=re.escape(mistake)):
            check(wrong)

    @pytest.mark.parametrize("check", [c for c, _ in solutions], ids=lambda c: c.__name__)
    def lets_a_stub_stop_with_its_own_error(check):
        def stub(*args, **kwargs):
            raise NotImplementedError("Exercise N.k: the stub")

        with pytest.raises(NotImplementedError, match="Exercise N.k"):
            check(stub)

    return passes_on_the_reference_solution, names_the_mistake, lets_a_stub_stop_with_its_own_error
