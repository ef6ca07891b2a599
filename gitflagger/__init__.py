"""gitflagger: Flagger-compatible progressive delivery that records every step in git."""

__version__ = "0.1.0"
