"""Networks: ResNet features, the baseline angle head, the 1D U-Net diffusion head, the IK MLP, the estimator."""
