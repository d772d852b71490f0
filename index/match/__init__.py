"""The one-to-many rule: when a query face is one of a gallery's persons, and how that rule is calibrated."""
