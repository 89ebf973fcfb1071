"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { edgeJson, jsonBody } from "@/lib/edge";
import { dateTime, usd } from "@/lib/format";
import type { ApiKey } from "@/lib/types";

export function Keys({ adminToken, projectId }: { adminToken: string; projectId: string }) {
  const queryClient = useQueryClient();
  const path = `/admin/projects/${encodeURIComponent(projectId)}/keys`;
  const keys = useQuery({ queryKey: ["keys", projectId, adminToken], queryFn: () => edgeJson<{ data: ApiKey[] }>(path, adminToken) });
  const [name, setName] = useState("");
  const [cap, setCap] = useState("");
  // The secret of the key created last; the edge returns it once and the console keeps it only in this state.
  const [secret, setSecret] = useState<{ id: string; key: string } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["keys", projectId, adminToken] });

  const create = useMutation({
    mutationFn: () =>
      edgeJson<ApiKey & { key: string }>(path, adminToken, {
        method: "POST",
        ...jsonBody({ name: name.trim() || null, daily_budget_usd: cap.trim() || null }),
      }),
    onSuccess: (created) => {
      setSecret({ id: created.id, key: created.key });
      setName("");
      setCap("");
      return refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) => edgeJson<ApiKey>(`${path}/${encodeURIComponent(keyId)}`, adminToken, { method: "DELETE" }),
    onSuccess: (revoked) => {
      setConfirming(null);
      setSecret((shown) => (shown?.id === revoked.id ? null : shown));
      return refresh();
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    setSecret(null);
    create.mutate();
  }

  return (
    <section className="card">
      <h2>API keys of {projectId}</h2>
      {secret && (
        <div className="secret" data-testid="new-secret" role="status">
          <p>
            The new key&apos;s secret. Copy it now: it is shown only this once and the gateway stores only its hash.
          </p>
          <code data-key-id={secret.id}>{secret.key}</code>
          <button type="button" className="secondary" onClick={() => navigator.clipboard?.writeText(secret.key)}>
            Copy
          </button>
          <button type="button" className="link" onClick={() => setSecret(null)}>
            I have stored it
          </button>
        </div>
      )}
      <ErrorNote error={keys.error} />
      <table className="table" data-testid="keys">
        <thead>
          <tr>
            <th>Name</th>
            <th>Prefix</th>
            <th>Daily cap</th>
            <th>Created</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(keys.data?.data ?? []).map((key) => (
            <tr key={key.id} data-key-id={key.id}>
              <td>{key.name ?? "–"}</td>
              <td className="mono">{key.prefix}…</td>
              <td>{key.daily_budget_usd === null ? "–" : usd(key.daily_budget_usd)}</td>
              <td>{dateTime(key.created_at)}</td>
              <td data-testid="key-state">{key.revoked_at ? `revoked ${dateTime(key.revoked_at)}` : "active"}</td>
              <td>
                {!key.revoked_at &&
                  (confirming === key.id ? (
                    <>
                      <button type="button" className="danger" onClick={() => revoke.mutate(key.id)} disabled={revoke.isPending}>
                        Confirm revoke
                      </button>
                      <button type="button" className="link" onClick={() => setConfirming(null)}>
                        Cancel
                      </button>
                    </>
                  ) : (
                    <button type="button" className="secondary" onClick={() => setConfirming(key.id)}>
                      Revoke
                    </button>
                  ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorNote error={revoke.error} />
      <form className="row" onSubmit={submit}>
        <input name="new-key-name" placeholder="Key name" value={name} onChange={(event) => setName(event.target.value)} />
        <input name="new-key-cap" placeholder="Daily cap in USD (optional)" value={cap} onChange={(event) => setCap(event.target.value)} inputMode="decimal" />
        <button type="submit" disabled={create.isPending}>
          Create key
        </button>
      </form>
      <ErrorNote error={create.error} />
    </section>
  );
}
