"""The browser application: a static web site that runs PoseNet on onnxruntime-web (`site.py` builds it,
`server.py` serves it locally with the headers that give WebAssembly its threads). The page's own files
(posenet.js, the demo) are package data in `static/`."""
