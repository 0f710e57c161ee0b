"""Planning errors.

PlanningError
└── PlanFileError      a mission file that cannot be read as a mission, with the reason
"""


class PlanningError(Exception):
    """Base class of the planning capability's errors."""


class PlanFileError(PlanningError):
    pass
