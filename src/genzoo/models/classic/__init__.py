"""Classic generative models on the shared contract: RBM, Gaussian mixture, categorical mixture
(naive Bayes) and a deterministic autoencoder; scikit-learn estimators in
:mod:`genzoo.estimators`."""
