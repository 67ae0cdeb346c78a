"""What AppOS knows of the compose specification: the keys it allows at each level of the normalized
project (`docker compose config`), and the values it knows to be harmless. A key that is not here is
refused (rule `key:<name>`): the lists are allow-lists, and a future Compose key fails closed."""

from __future__ import annotations

TOP_LEVEL = frozenset({"name", "services", "networks", "volumes", "secrets", "configs", "version"})

# Service keys. The ones in CHECKED have their own rule in rules.py; the rest are harmless whatever
# their value (resources, names, commands, the container's own settings).
SERVICE = frozenset(
    {
        "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
        "command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
        "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "depends_on", "deploy",
        "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint",
        "env_file", "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
        "healthcheck", "hostname", "image", "init", "ipc", "label_file", "labels", "links", "logging",
        "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode",
        "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports",
        "post_start", "pre_stop", "privileged", "profiles", "pull_policy", "pull_refresh_after", "read_only",
        "restart", "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open",
        "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits",
        "use_api_socket", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
    }
)  # fmt: skip

BUILD = frozenset(
    {
        "context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "shm_size", "pull",
        "no_cache", "tags", "platforms", "extra_hosts", "ulimits", "additional_contexts", "network",
        "privileged", "secrets",
    }
)  # fmt: skip
DEPLOY = frozenset(
    {"resources", "restart_policy", "replicas", "labels", "mode", "update_config", "rollback_config",
     "endpoint_mode", "placement"}
)  # fmt: skip
RESOURCES = frozenset({"limits", "reservations"})
RESOURCE_LIMITS = frozenset({"cpus", "memory", "pids"})
HOOK = frozenset({"command", "user", "privileged", "working_dir", "environment"})
LOGGING = frozenset({"driver", "options"})
MOUNT = frozenset({"type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"})
MOUNT_BIND = frozenset({"propagation", "create_host_path", "selinux"})
MOUNT_VOLUME = frozenset({"nocopy", "subpath"})
MOUNT_TMPFS = frozenset({"size", "mode"})
MOUNT_TYPES = frozenset({"bind", "volume", "tmpfs"})

VOLUME = frozenset({"name", "driver", "driver_opts", "external", "labels"})
NETWORK = frozenset(
    {"name", "driver", "driver_opts", "external", "internal", "attachable", "enable_ipv6", "enable_ipv4",
     "ipam", "labels"}
)  # fmt: skip
IPAM = frozenset({"driver", "config", "options"})
SECRET = frozenset({"name", "file", "environment", "content", "external", "labels"})
CONFIG = SECRET

# Capabilities a container may add without an exception: Docker's default set, plus two that only
# touch the container's own processes (mlock for vaults, nice for media servers).
SAFE_CAPS = frozenset(
    {
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
        "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE", "IPC_LOCK", "SYS_NICE",
    }
)  # fmt: skip

# sysctls that live in the container's own namespaces (network, IPC); any other one is the host's.
NAMESPACED_SYSCTLS = ("net.", "kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")

LOGGING_DRIVERS = frozenset({"json-file", "local", "none", "journald"})
NETWORK_DRIVERS = frozenset({"bridge"})
BRIDGE_OPTIONS = frozenset(
    {"com.docker.network.driver.mtu", "com.docker.network.bridge.enable_icc",
     "com.docker.network.bridge.enable_ip_masquerade"}
)  # fmt: skip
BIND_PROPAGATION = frozenset({"private", "rprivate"})

# Read-only binds of these host files are allowed: containers want the host's clock settings.
CLOCK_FILES = frozenset({"/etc/localtime", "/etc/timezone"})
DOCKER_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock"})
