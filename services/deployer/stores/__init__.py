"""App stores (issue 20): the community's catalogs, fetched, converted into AppOS templates and
checked like any app.

    sources.py   where a store's files come from: a git repository, an archive, a folder
    formats/     each store format → AppOS templates, or the reason an entry is skipped
    importer.py  one import, run as its own process: fetch, convert, check, write the store's folder
    manager.py   the deployer's side: add, refresh, remove, and the catalog's view of the stores
    servicer.py  the Stores gRPC service

A store's folder, `$APPOS_DATA/stores/<store>/`:

    store.json             what the last import found (StoreRecord)
    source/                the fetched files (a shallow git clone, an unpacked archive); none for a folder
    templates/<entry>/     compose.yaml + template.json of each entry that passed
"""
