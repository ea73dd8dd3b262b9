// Module TaktMetrics.
