"""Demo data for ``manage.py seed_demo``: the people, their mail and the files attached to it."""
