import { z } from "zod";

/** One result of `POST /api/check/resources`. Unknown fields are ignored. */
export const cerbosResultSchema = z.object({
  resource: z.object({ id: z.string(), kind: z.string() }),
  actions: z.record(z.string(), z.string()),
  meta: z
    .object({
      actions: z
        .record(
          z.string(),
          z.object({ matchedPolicy: z.string().optional(), matchedScope: z.string().optional() }),
        )
        .optional(),
    })
    .optional(),
  outputs: z
    .array(
      z.object({ src: z.string().optional(), val: z.unknown(), action: z.string().optional() }),
    )
    .optional(),
});

/** The answer of `POST /api/check/resources`. */
export const cerbosCheckResponseSchema = z.object({
  requestId: z.string().optional(),
  results: z.array(cerbosResultSchema),
  cerbosCallId: z.string().optional(),
});

export type CerbosResult = z.infer<typeof cerbosResultSchema>;
export type CerbosCheckResponse = z.infer<typeof cerbosCheckResponseSchema>;

/** The error body Cerbos sends with a non-200 status (`{"code":3,"message":"..."}`). */
export const cerbosErrorSchema = z.object({ message: z.string() });
