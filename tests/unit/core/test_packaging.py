"""pyproject.toml and environment.yml list the same packages; the README keeps exactly two commands."""

import re
import tomllib

import yaml


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = list(dict.fromkeys(project["dependencies"] + extras["course"] + extras["test"] + extras["site"]))
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = [r for r in pip_section if not r.startswith("-e")]
    assert sorted(map(str.strip, listed)) == sorted(map(str.strip, wanted))
    assert {_name(r) for r in listed} == {_name(r) for r in wanted}


def test_readme_quick_start_has_two_commands_and_ci_runs_the_test_one(root):
    readme = (root / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make course", "make test"]
    assert "\nmake test\n" in (root / ".ci" / "run").read_text()


LOCAL_ONLY = {"jupyterlab", "jupytext", "notebook", "jupyter", "jupyter-server", "ipykernel", "nbclassic"}


def test_core_dependencies_leave_colabs_jupyter_stack_and_torch_alone(root):
    """The setup cell pip-installs the core list on Colab: no Jupyter front end, no torch pin or upper bound."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    core = project["dependencies"]
    assert not {_name(r) for r in core} & LOCAL_ONLY, "local-only tools belong in the `course` extra"
    assert {"jupyterlab", "jupytext"} <= {_name(r) for r in project["optional-dependencies"]["course"]}
    torch = next(r for r in core if _name(r) == "torch")
    assert re.fullmatch(r"torch>=[\d.]+", torch), f"torch must only have a lower bound on Colab, got {torch!r}"


def test_make_course_installs_the_course_extra(root):
    installs = re.search(r'pip install -q -e "\.\[([a-z,]+)\]"', (root / "Makefile").read_text())
    assert installs and "course" in installs.group(1).split(","), "make course must install the course extra"
