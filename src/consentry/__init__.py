"""consentry: train AI on member data only where consent and jurisdiction allow, and prove it."""

__version__ = "0.1.0"
