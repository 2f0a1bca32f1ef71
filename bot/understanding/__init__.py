"""Reading a message: language modules, safety triage, and matching against the knowledge base.

`understander.Understander` puts them in order (triage first); `language` holds the modules a
content language needs; `triage` and `matcher` do the work; `report` groups what went unanswered.
"""
