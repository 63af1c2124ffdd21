{
  "variables": {
    "usearch_include%": "../../node_modules/usearch/include"
  },
  "targets": [
    {
      "target_name": "hnsw_filter",
      "sources": ["hnsw_filter.cc"],
      "include_dirs": ["<(usearch_include)"],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-Wno-unknown-pragmas", "-Wno-maybe-uninitialized"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      }
    }
  ]
}
