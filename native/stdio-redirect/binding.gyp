{
  "targets": [
    {
      "target_name": "stdio_redirect",
      "sources": ["stdio_redirect.c"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
