"""Offers a second provider called ``tiny``: installed beside imagegate-tiny, the name is taken twice."""

from __future__ import annotations

import imagegate
from imagegate.adapter import Adapter


class ClashingAdapter(Adapter):
    name = "tiny"
    description = "Another provider called tiny"


@imagegate.hookimpl
def register_providers(register):
    register(ClashingAdapter)
