"""The scorer. Its domain modules may run compiled: `install_guard` decides, before any of them
is imported, whether their compiled build is current (see `services.native`)."""

from services.native import install_guard

install_guard()
