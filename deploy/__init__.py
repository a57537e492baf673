"""Serving and shipping: the champion loader (:mod:`deploy.champion`), the prediction service,
Prefect deployment specs and compose files for the server stack.

``deploy`` only reads what ``models`` wrote: it loads the version holding the MLflow
``champion`` alias and never trains or promotes.
"""
