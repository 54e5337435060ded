import { z } from 'zod';

/** Settings → Webhook; the signing secret is only in the answer to PUT. */
export const webhookView = z.object({ url: z.string(), createdAt: z.string(), lastDeliveryAt: z.string().nullable(), lastDeliveryStatus: z.string().nullable() });

export const webhookResponse = z.object({ webhook: webhookView.nullable() });
export const webhookSetResponse = z.object({ webhook: webhookView, secret: z.string() });
export const webhookTestResponse = z.object({ queued: z.literal(true) });
