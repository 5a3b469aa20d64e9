"""The rule every explorer follows: an interactive widget or a static chart (see `wants_widget`).

Which one you get — the rule, in one place (`wants_widget`):

- ``SINKLAB_INTERACTIVE=1`` or ``0``, when set, decides (e.g. a live JupyterLab on the ``ci`` profile);
- else the interactive widget when the code runs in a Jupyter kernel a person can be looking at
  (`env.frontend()` is "jupyter", "colab" or "vscode") and the profile is not ``ci``;
- otherwise a static Altair chart: in CI and nbval (they run with ``SINKLAB_PROFILE=ci``), in
  scripts and in tests. A notebook executed headless therefore stores a picture, which GitHub,
  nbviewer and an offline JupyterLab all show, instead of a widget that shows nothing there.

The same rule makes charts interactive (`plots.enable_rendering`, called by the setup cell).
Pass ``interactive=True`` or ``False`` to override it for one explorer.
"""

from __future__ import annotations

import os

from sinklab import env


def wants_widget(interactive: bool | None = None) -> bool:
    """Show an interactive widget (True) or a static chart (False)? See the module docstring for the rule."""
    if interactive is not None:
        return interactive
    if os.environ.get("SINKLAB_INTERACTIVE") in ("0", "1"):
        return os.environ["SINKLAB_INTERACTIVE"] == "1"
    return env.frontend() in ("jupyter", "colab", "vscode") and env.profile().name != "ci"
