"""sinklab: the library behind the course "Why do LLMs attend to the first token?".

Modules (each one job): env (profiles, device, doctor), models (registry and loader),
measure and metrics (sink statistics), attention (reference implementations), plots,
widgets, checks, train, data, variants (sink-free attention), experiments (chapter 6's
training runs), build (notebooks from course sources), cli.
Heavy libraries (torch, transformers, altair) are imported by the modules that need them.
"""

from sinklab.errors import SinklabError

__version__ = "0.1.0"
__all__ = ["SinklabError", "__version__"]
