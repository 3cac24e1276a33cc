"""What the recommender raises when it cannot answer as asked."""


class RecommendError(ValueError):
    """A recommendation that cannot be made as asked (unknown method, no candidate, wrong task, ...)."""


class RecommendTimeout(RecommendError):
    """The ranking ran past its ``time_limit_s``; the message says how far it got."""


class RankedOtherwise(UserWarning):
    """The method asked for could not rank and the default ranked instead; the recommendation's note says so too."""
