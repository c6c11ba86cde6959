"""Marshmallow schemas: the shape of every request and response, and the source of the OpenAPI document."""
