export interface PageQuery {
  limit?: number;
  cursor?: string;
}

/** JSON schema fragment shared by list endpoints. */
export const pageQuerySchema = {
  limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
  cursor: { type: 'string', maxLength: 200 },
} as const;
