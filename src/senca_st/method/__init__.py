"""The method: preprocessing, image features, the SENCA-st model and its training, baselines, groups, clustering.

From a section's AnnData (and H&E) to its regions; :mod:`senca_st.method.catalogue`
names the variants the pipeline compares.
"""
