# ddmsp operator image: `docker build -t ddmsp:0.1.0 .` then `helm install ddmsp helm/ddmsp`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --uid 10001 --create-home ddmsp
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
EXPOSE 8080 9090
ENTRYPOINT ["ddmsp"]
CMD ["run"]
