"""bonas controller service: the FastAPI app, the BONAS loop as a service, and the SQL store."""
