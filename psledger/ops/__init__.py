"""Operations: metrics (Prometheus), structured logs, and the figures that
`psledger status` and the `/ops` dashboard share.

    metrics.py    psledger_* series: counters fed by the inbox, the pipeline
                  and billing; gauges read from the store at scrape time
    logs.py       JSON or console log lines, secrets scrubbed
    figures.py    the dashboard's figures, computed from the store
    status.py     the one-screen summary behind `psledger status`
    render.py     the dashboard's HTML (templates/*.html, Jinja2, inline SVG)

The HTTP side is psledger/http/routes_ops.py; the CLI side psledger/cli_status.py.
"""
