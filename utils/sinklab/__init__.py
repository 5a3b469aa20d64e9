"""sinklab: the library behind the course "Why do LLMs attend to the first token?".

The core, at the top level (reusable without the course): env (profiles, device, dtype, hub reachability), models
(registry and loading), random_models, measure (sink statistics without the T×T matrix), capture, metrics,
variants (sink-free attention), train and data, prompts, evaluate, bench. The course side, in four packages
that may import the core but never the reverse: analysis (what each chapter introduces), checks (one module
per chapter), viz (plots, widgets) and course (the notebook build, syllabus, tracks, rehearsal, site).
See ARCHITECTURE.md. Heavy libraries (torch, transformers, altair) are imported by the modules that need them.
"""

from sinklab.errors import SinklabError

__version__ = "0.1.0"
__all__ = ["SinklabError", "__version__"]


# Modules that moved to the course side keep their old public names (`from sinklab import theory`):
# the notebooks and users' code need no edit. New code imports the new path.
_MOVED = {
    "attention": "sinklab.analysis.scratch_attention",
    "sweep": "sinklab.analysis.sweep",
    "streaming": "sinklab.analysis.streaming",
    "ablate": "sinklab.analysis.ablate",
    "realsize": "sinklab.analysis.real_sizes",
    "published": "sinklab.analysis.published",
    "circuit": "sinklab.analysis.p0_circuit",
    "theory": "sinklab.analysis.over_mixing",
    "experiments": "sinklab.analysis.experiments",
    "plots": "sinklab.viz.plots",
    "widgets": "sinklab.viz.widgets",
    "syllabus": "sinklab.course.syllabus",
    "tracks": "sinklab.course.tracks",
    "build": "sinklab.course.build",
    "prefetch": "sinklab.course.prefetch",
    "setup": "sinklab.course.notebook_setup",
    "site": "sinklab.course.site",
    "rehearse": "sinklab.course.rehearse",
    "recorded": "sinklab.analysis.recorded_runs",
    "sinkattention": "sinklab.measure.attention",
    "doctor": "sinklab.course.doctor",
}


def __getattr__(name):
    if name in _MOVED:
        import importlib

        return importlib.import_module(_MOVED[name])
    raise AttributeError(f"module 'sinklab' has no attribute {name!r}")
