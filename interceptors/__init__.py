"""Server interceptors: one concern each, composed in ONE list in server/app.py."""
