"""A measured fix for Rasa 3.6's hottest path under load (README "Performance").

Rasa validates every custom-action response with `jsonschema.validate(result, schema)`,
which checks the *schema itself* again on every call before validating the result: in our
profile (py-spy, 10 concurrent conversations) that was 63% of the Rasa server's CPU. Here the
same validation runs against a validator built once, whose schema was checked once. The
result is validated exactly as before and errors are reported as before. Imported by our
pipeline components, so it is in place wherever our model is loaded.
"""
from __future__ import annotations

from typing import Any, Dict

import jsonschema
from rasa.core.actions import action as rasa_action

_validator = None


def _cached_validator():
    global _validator
    if _validator is None:
        schema = rasa_action.RemoteAction.action_response_format_spec()
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    return _validator


def _validate_action_result(self, result: Dict[str, Any]) -> bool:
    try:
        _cached_validator().validate(result)
        return True
    except jsonschema.ValidationError as e:
        e.message += (". Failed to validate Action server response from API, make sure your response "
                      "from the Action endpoint is valid.")
        raise e


rasa_action.RemoteAction._validate_action_result = _validate_action_result
