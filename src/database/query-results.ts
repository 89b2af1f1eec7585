/** A row of a raw statement as pg returns it: column name to value. */
export type RawRow = Record<string, unknown>;

/**
 * What `query` answers on pg for an UPDATE or a DELETE: the rows it returned
 * (`RETURNING`; none without it) and how many rows it changed. Every other
 * statement answers its rows alone.
 */
export type ChangedRows<R = RawRow> = [rows: R[], affected: number];
