"""``gnrcnn serve``: one model behind an HTTP API and a web page (Starlette on uvicorn).

``options.py`` holds the settings, ``access.py`` checks the API key, ``upload.py`` reads request
bodies in memory, ``jobs.py`` is the bounded queue and the one inference thread (with batching),
``replies.py`` turns detections into JSON and PNG, ``app.py`` wires the routes, ``server.py`` runs
it under uvicorn; ``static/`` is the page (docs/serve.md). ``label_studio.py`` is the other app,
Label Studio's ML backend protocol (``--label-studio``), with ``ls_project.py`` (the project's labels and
results), ``ls_images.py`` (task images) and ``ls_training.py`` (fine-tunes it starts) (docs/labelling.md).
"""

from .app import create_app
from .options import ServeOptions
from .server import serve

__all__ = ["ServeOptions", "create_app", "serve"]
