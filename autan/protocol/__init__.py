"""Wire schemas of the Mistral API v1 (pydantic), one module per resource."""
