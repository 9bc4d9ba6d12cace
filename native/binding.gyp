# Builds twinpath_bpf.node, the N-API addon over libbpf (native/build/Release/).
# Plain C against node_api.h; links the system libbpf (Debian: libbpf-dev).
{
  "targets": [
    {
      "target_name": "twinpath_bpf",
      "sources": [
        "twinpath_bpf.c",
        "tp_util.c",
        "tp_object.c",
        "tp_map.c",
        "tp_run.c",
        "tp_attach.c",
        "tp_netns.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf"]
    }
  ]
}
