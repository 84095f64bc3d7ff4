"""Accuracy: COCO keypoint OKS metrics (pycocotools, imported on first use) of PoseNet's poses on annotated
images, for one configuration or a sweep (`coco`)."""
