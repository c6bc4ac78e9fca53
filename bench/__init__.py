"""``python -m bench``: the backend comparison."""
