"""Folder jobs: image paths in, one record per image out, streamed in input order; locally or on Ray.

`sources` expands files, folders, globs and @LIST files into paths; `jobs` reads them ahead in threads and
estimates them in windows; `records` turns the results into JSON lines or Parquet rows; `ray_engine` runs
the same windows on a Ray Data actor pool. Built on the core (`PoseNet`, `EstimateSettings`); Ray and
pyarrow are imported only by the functions that use them.
"""
