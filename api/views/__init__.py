"""The service's resources: one module per resource, each with a ``blueprint`` and an
``openapi(settings)`` fragment (see api/openapi.py); `api.factory.RESOURCES` lists them."""
