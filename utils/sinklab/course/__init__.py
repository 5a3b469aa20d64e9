"""The course side: the course model (``spec``), the notebook build (``cells``, ``build``), README's
table (``readme``), the syllabus, tracks, the notebook setup cell (``notebook_setup``), prefetching
models for a lab, the stand-in rehearsal (``rehearse``) and the static site (``site``)."""
