"""The subsystem methods under the module name older Python callers import (rpc.subsystem)."""

from .framework import (framework_get_subsystems, framework_get_config,  # noqa: F401
                        get_subsystems, get_subsystem_config)
