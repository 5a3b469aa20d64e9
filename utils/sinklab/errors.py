"""One exception type for predictable mistakes, shown to learners as a message, not a traceback."""


class SinklabError(Exception):
    """A mistake the learner can fix; the message names the fix.

    In notebooks the setup cell installs a handler that prints only this message
    (see `sinklab.course.notebook_setup`), so a learner sees one paragraph instead of a traceback.
    """
