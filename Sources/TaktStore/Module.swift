// Module TaktStore.
